"""The ``generic-ssh`` switch: access VLANs on real switches through their CLI over SSH.

``driver.py`` is the switch driver; ``dialects.py`` the command lines and
refusals of each vendor's CLI; ``cli.py`` logging in and typing lines;
``batches.py`` the port moves queued and applied one SSH session per batch.
"""
