"""``python -m sim``: the Hydra app (one run, or a sweep with ``-m``).  See :mod:`sim.cli`."""

from sim.cli import main

if __name__ == "__main__":
    main()
