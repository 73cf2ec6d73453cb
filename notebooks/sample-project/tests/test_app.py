import unittest

from webapp import create_app


class AppTest(unittest.TestCase):
    def test_index_and_health(self):
        client = create_app().test_client()
        self.assertIn("hello world!", client.get("/").get_data(as_text=True))
        self.assertEqual(client.get("/health").get_data(as_text=True), "ok")
