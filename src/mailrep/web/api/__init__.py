"""The JSON API under /api/v1, one module per audience: reporters, feeds, the public, deputies."""
