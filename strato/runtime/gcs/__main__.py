import sys

from strato.runtime.gcs.server import main

sys.exit(main())
