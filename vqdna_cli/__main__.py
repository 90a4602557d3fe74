from vqdna_cli.cli.entry import main

if __name__ == "__main__":
    main()
