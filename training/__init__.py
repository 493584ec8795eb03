"""Training and evaluation of the project's MobileNetV2 emotion model on FER2013."""
