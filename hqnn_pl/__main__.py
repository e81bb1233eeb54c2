"""``python -m hqnn_pl`` runs the CLI."""

from hqnn_pl.cli import main

if __name__ == "__main__":
    main()
