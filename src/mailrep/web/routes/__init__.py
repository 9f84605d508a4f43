"""API routes, one module per audience: reporters, feeds, the public, deputies."""
