"""The Image API under ``/image``, compatible with OpenStack Glance's v2."""
