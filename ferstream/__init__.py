"""The ``ferstream`` command and the programs it runs (demo, analyze) on top of the packages."""
