"""``python -m reefdask.cli``: the same as the ``reefdask`` script."""

from reefdask.cli import main

main()
