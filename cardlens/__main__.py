import sys

from cardlens.cli import main

sys.exit(main())
