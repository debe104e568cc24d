"""What the provisioning network serves machines: DHCP, iPXE scripts, images."""
