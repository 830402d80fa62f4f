"""python -m kathansync"""

from kathansync.cli import main

main()
