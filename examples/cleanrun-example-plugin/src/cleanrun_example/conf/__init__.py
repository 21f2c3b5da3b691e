"""YAML options of the example plugins, one folder per cleanrun config group (``pkg://cleanrun_example.conf``)."""
