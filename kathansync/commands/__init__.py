"""The CLI's commands, one module per family; kathansync.cli assembles them, lazily."""

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2
