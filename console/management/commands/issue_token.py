from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from knox.models import AuthToken

from console.platform.roles import API_CLIENT


class Command(BaseCommand):
    help = "Create the API user USERNAME if needed (api-client role) and print a new bearer token."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username: str, **options):
        User = get_user_model()
        user, created = User.objects.get_or_create(username=username)
        if created:
            user.set_unusable_password()
            user.save()
            user.groups.add(Group.objects.get(name=API_CLIENT))
        _, token = AuthToken.objects.create(user=user)
        # Only the token, so scripts can capture it: TOKEN=$(manage.py issue_token x)
        self.stdout.write(token)
