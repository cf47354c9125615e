import sys

from mletui.cli import main

sys.exit(main())
