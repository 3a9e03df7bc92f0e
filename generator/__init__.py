"""SynBlink generator: sample (pure numpy), render (Blender), annotate, write.

Import-light on purpose: importing ``generator`` or ``generator.config`` / ``generator.sampling``
never imports bpy, so configs and clip specs can be built and tested without Blender.
"""
