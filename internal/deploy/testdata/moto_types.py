"""Prints, of the resource types given one a line on stdin, those that moto's
CloudFormation cannot create (it skips them with a warning), one a line.

Usage: python3 moto_types.py < TYPES
"""
import sys

from moto.cloudformation.parsing import resource_class_from_type

for line in sys.stdin:
    t = line.strip()
    if t and not resource_class_from_type(t):
        print(t)
