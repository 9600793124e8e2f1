"""``python -m hepgan`` (and so ``torchrun -m hepgan``) runs the command line."""

from hepgan.cli import main

raise SystemExit(main())
