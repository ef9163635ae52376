"""`python -m genbench`: the command line."""

from genbench.driver.cli import main

raise SystemExit(main())
