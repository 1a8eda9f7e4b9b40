import sys

from strato.runtime.raylet.server import main

sys.exit(main())
