"""The fakes the tests run the real bot against: Discord and Segmind, on loopback."""
