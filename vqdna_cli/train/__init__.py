"""The three training stages: tokenizer, masked pre-training, task fine-tuning."""
