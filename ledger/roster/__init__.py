"""Importing a roster of volunteers from a spreadsheet: ``rules`` (pure, per line), ``errors``,
``service`` (reading the file whole, then registering line by line through the Ledger's public
API). The member number is the key, so the same file can be imported again safely."""
