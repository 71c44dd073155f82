import sys

from oncogpt.cli import main

sys.exit(main())
