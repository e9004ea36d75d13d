"""Firmware export: hls4ml projects and the open-source RTL route."""
