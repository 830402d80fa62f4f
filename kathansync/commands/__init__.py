"""The CLI's commands, one module per family; kathansync.cli assembles them."""
