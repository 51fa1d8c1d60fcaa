"""Diffusion: relaying national alert messages to the partners, with confirmed receipt."""
