"""Recurrent state encoders with one interface (torch)."""
