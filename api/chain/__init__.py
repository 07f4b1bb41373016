"""The hash chain: public daily roots, a volunteer's proof of an entry."""
