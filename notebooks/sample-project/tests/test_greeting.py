import unittest

from webapp.greeting import greeting


class GreetingTest(unittest.TestCase):
    def test_greets_the_world(self):
        self.assertEqual(greeting(), "hello world!")
