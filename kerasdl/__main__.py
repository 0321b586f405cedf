"""python -m kerasdl  ->  kerasdl.cli.main()"""

import sys

from kerasdl.cli import main

sys.exit(main())
