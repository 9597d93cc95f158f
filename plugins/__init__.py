"""Built-in regsim plugins, registered through the ``regsim`` entry-point group like any other."""
