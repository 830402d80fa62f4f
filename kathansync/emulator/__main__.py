"""python -m kathansync.emulator [--port N] [--state FILE] ...: serve the emulator."""

from kathansync.emulator.server import main

raise SystemExit(main())
