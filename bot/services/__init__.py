"""Business rules. Handlers call these; these call the storage layer."""

from __future__ import annotations

from dataclasses import dataclass

from telegram import Bot
from telegram.ext import JobQueue

from bot.clock import Clock
from bot.config import Settings
from bot.i18n import Catalogs
from bot.scheduling import JobScheduler
from bot.services.admin import AdminService
from bot.services.attendance import AttendanceService
from bot.services.broadcasts import BroadcastService
from bot.services.delivery import Sender
from bot.services.feedback import FeedbackService
from bot.services.groups import GroupService
from bot.services.importer import Importer
from bot.services.invites import InviteService
from bot.services.itinerary import ItineraryService
from bot.services.presence import Presence
from bot.services.questions import QuestionService
from bot.services.reminders import ReminderService
from bot.services.roles import RoleService
from bot.services.tasks import TaskService
from bot.storage import Storage


@dataclass
class Services:
    """Everything a handler may use, built once in post_init and kept in bot_data."""

    settings: Settings
    clock: Clock
    storage: Storage
    catalogs: Catalogs
    importer: Importer
    invites: InviteService
    itinerary: ItineraryService
    sender: Sender
    scheduler: JobScheduler  # the timed jobs; the playground's clock re-times them
    reminders: ReminderService
    broadcasts: BroadcastService
    admin: AdminService
    roles: RoleService
    presence: Presence  # who was seen when, written in batches off the answer path
    questions: QuestionService
    feedback: FeedbackService
    tasks: TaskService  # the arrival checklist (a planner on the timed queue)
    attendance: AttendanceService
    groups: GroupService  # the cohort's group chats: the day card, announcements, lifecycle

    @classmethod
    def build(
        cls,
        settings: Settings,
        clock: Clock,
        storage: Storage,
        catalogs: Catalogs,
        bot: Bot,
        job_queue: JobQueue,
    ) -> Services:
        sender = Sender(bot, storage, clock, catalogs)
        scheduler = JobScheduler(job_queue, clock)
        importer = Importer(storage, clock)
        reminders = ReminderService(storage, clock, settings, sender, scheduler)
        itinerary = ItineraryService(storage, clock)
        reminders.on_changes = itinerary.plans.forget
        questions = QuestionService(storage, clock, settings, sender, scheduler, bot)
        reminders.add_planner(questions)
        feedback = FeedbackService(storage, clock, sender, scheduler)
        reminders.add_planner(feedback)
        tasks = TaskService(storage, clock, sender, scheduler, bot)
        reminders.add_planner(tasks)
        reminders.digest_extra = tasks.digest_lines
        attendance = AttendanceService(storage, clock, sender, scheduler)
        reminders.add_planner(attendance)
        groups = GroupService(storage, clock, settings, sender, scheduler, catalogs, bot)
        reminders.add_planner(groups)
        return cls(
            settings=settings,
            clock=clock,
            storage=storage,
            catalogs=catalogs,
            importer=importer,
            invites=InviteService(storage, clock, settings.invite_days),
            itinerary=itinerary,
            presence=Presence(storage),
            sender=sender,
            scheduler=scheduler,
            reminders=reminders,
            broadcasts=BroadcastService(storage, clock, sender),
            admin=AdminService(storage, clock, importer, reminders),
            roles=RoleService(storage, clock, settings, sender),
            questions=questions,
            feedback=feedback,
            tasks=tasks,
            attendance=attendance,
            groups=groups,
        )
