"""The live view (``ferstream web``): every camera's annotated frame, figures and emotion
timeline in a browser, read from Redis only (see README, "Watch it live")."""
