import sys

from strato.cli import main

sys.exit(main())
