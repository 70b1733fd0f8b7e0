"""One package per outcome area, each holding its computation, its figures and its declaration."""
