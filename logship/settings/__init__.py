"""The general parts of the configuration: value forms, the variable declaration, the parsed types.

``logship.config`` reads the environment with them; each sink declares its own variables with them
(``logship.sinks.<store>.spec``). This package imports nothing else of logship.
"""
