"""The PyTorch model: tokenizer (encoder, HRQ, decoder), Transformer, heads. No I/O."""
