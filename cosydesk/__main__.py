"""`python -m cosydesk` runs the same entry point as the `cosydesk` command."""

from cosydesk.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
