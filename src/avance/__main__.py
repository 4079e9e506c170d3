"""``python -m avance``: the same command as ``avance`` (the multi-node harness starts nodes this way)."""

from avance.entrypoints.cli import main

if __name__ == "__main__":
    main()
