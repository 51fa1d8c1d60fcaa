"""The duty console (web): sign-in, tableau de bord, signal pages, live updates."""
