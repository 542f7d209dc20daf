"""the district's other jobs: liaisons, follow-ups, 摸排 and leave, supplies, notices and the
checklist, early-warning signals, dashboard logins

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01 22:10:00

One revision with a section per feature, in the order of storage/models.py.
"""
from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # -------------------------------------------------------------- liaisons
    op.create_table('liaison_schools',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], ),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('person_id', 'school_id', name='uq_liaison_school')
    )
    with op.batch_alter_table('liaison_schools', schema=None) as batch_op:
        batch_op.create_index('ix_liaison_schools_person_id', ['person_id'], unique=False)
        batch_op.create_index('ix_liaison_schools_school_id', ['school_id'], unique=False)
    # -------------------------------------------------------------- follow-ups (issue 12)
    with op.batch_alter_table('health_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('absent', sa.Boolean(), server_default=sa.text('false'),
                                      nullable=False))
    op.create_table('followup_closures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('closed_by_id', sa.Integer(), nullable=True),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['closed_by_id'], ['people.id'], ),
    sa.ForeignKeyConstraint(['message_id'], ['inbound_messages.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('followup_closures', schema=None) as batch_op:
        batch_op.create_index('ix_followup_closures_person_day', ['person_id', 'day'], unique=False)
    # -------------------------------------------------------------- leave, whereabouts (issue 14)
    op.create_table('leaves',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('start', sa.Date(), nullable=False),
    sa.Column('end', sa.Date(), nullable=False),
    sa.Column('reported_by_id', sa.Integer(), nullable=True),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['inbound_messages.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], ),
    sa.ForeignKeyConstraint(['reported_by_id'], ['people.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('leaves', schema=None) as batch_op:
        batch_op.create_index('ix_leaves_days', ['start', 'end'], unique=False)
        batch_op.create_index('ix_leaves_person_id', ['person_id'], unique=False)
    op.create_table('whereabouts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('place', sa.String(length=50), nullable=True),
    sa.Column('start', sa.Date(), nullable=False),
    sa.Column('end', sa.Date(), nullable=True),
    sa.Column('returned_on', sa.Date(), nullable=True),
    sa.Column('reported_by_id', sa.Integer(), nullable=True),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('source', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['inbound_messages.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], ),
    sa.ForeignKeyConstraint(['reported_by_id'], ['people.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('whereabouts', schema=None) as batch_op:
        batch_op.create_index('ix_whereabouts_person_start', ['person_id', 'start'], unique=False)
    # -------------------------------------------------------------- supplies (issue 15)
    op.create_table('supply_counts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('item', sa.String(length=50), nullable=False),
    sa.Column('quantity', sa.Float(), nullable=False),
    sa.Column('unit', sa.String(length=16), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('counted_at', sa.DateTime(), nullable=False),
    sa.Column('reported_by_id', sa.Integer(), nullable=True),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['message_id'], ['inbound_messages.id'], ),
    sa.ForeignKeyConstraint(['reported_by_id'], ['people.id'], ),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('supply_counts', schema=None) as batch_op:
        batch_op.create_index('ix_supply_counts_day', ['day'], unique=False)
        batch_op.create_index('ix_supply_counts_school_item_day', ['school_id', 'item', 'day'], unique=False)
    # -------------------------------------------------------------- notices, checklist (issue 16)
    op.create_table('notices',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('audience', sa.String(length=16), nullable=False),
    sa.Column('groups', sa.Text(), nullable=False),
    sa.Column('sent_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['sent_by_id'], ['people.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('notice_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('notice_id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=True),
    sa.Column('private', sa.Boolean(), nullable=False),
    sa.Column('queued_at', sa.DateTime(), nullable=False),
    sa.Column('reminded_at', sa.DateTime(), nullable=True),
    sa.Column('acked_at', sa.DateTime(), nullable=True),
    sa.Column('ack_message_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['ack_message_id'], ['inbound_messages.id'], ),
    sa.ForeignKeyConstraint(['notice_id'], ['notices.id'], ),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], ),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('notice_id', 'person_id', name='uq_notice_delivery')
    )
    with op.batch_alter_table('notice_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_notice_deliveries_person', ['person_id', 'acked_at'], unique=False)
    op.create_table('checklist_marks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('item', sa.String(length=200), nullable=False),
    sa.Column('done', sa.Boolean(), nullable=False),
    sa.Column('marked_by_id', sa.Integer(), nullable=True),
    sa.Column('message_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('replaced_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['marked_by_id'], ['people.id'], ),
    sa.ForeignKeyConstraint(['message_id'], ['inbound_messages.id'], ),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('checklist_marks', schema=None) as batch_op:
        batch_op.create_index('uq_checklist_marks_current', ['school_id', 'item'], unique=True, sqlite_where=sa.text('replaced_at IS NULL'), postgresql_where=sa.text('replaced_at IS NULL'))
    # -------------------------------------------------------------- early warning (issue 17)
    op.create_table('surveillance_signals',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('signal', sa.String(length=16), nullable=False),
    sa.Column('method', sa.String(length=8), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.Column('heads', sa.Integer(), nullable=False),
    sa.Column('expected', sa.Float(), nullable=False),
    sa.Column('sd', sa.Float(), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('threshold', sa.Float(), nullable=False),
    sa.Column('baseline_days', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('day', 'school_id', 'signal', name='uq_surveillance_signal')
    )
    # -------------------------------------------------------------- dashboard auth (issue 18)
    op.create_table('login_limits',
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('failures', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(), nullable=True),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    with op.batch_alter_table('login_limits', schema=None) as batch_op:
        batch_op.create_index('ix_login_limits_expires_at', ['expires_at'], unique=False)
    op.create_table('dashboard_sessions',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('dashboard_sessions', schema=None) as batch_op:
        batch_op.create_index('ix_dashboard_sessions_expires_at', ['expires_at'], unique=False)
        batch_op.create_index('ix_dashboard_sessions_person_id', ['person_id'], unique=False)


def downgrade() -> None:
    # in reverse order of upgrade(); each section drops what it created
    # -------------------------------------------------------------- dashboard auth (issue 18)
    op.drop_table('dashboard_sessions')
    op.drop_table('login_limits')
    # -------------------------------------------------------------- early warning (issue 17)
    op.drop_table('surveillance_signals')
    # -------------------------------------------------------------- notices, checklist (issue 16)
    with op.batch_alter_table('checklist_marks', schema=None) as batch_op:
        batch_op.drop_index('uq_checklist_marks_current', sqlite_where=sa.text('replaced_at IS NULL'), postgresql_where=sa.text('replaced_at IS NULL'))
    op.drop_table('checklist_marks')
    with op.batch_alter_table('notice_deliveries', schema=None) as batch_op:
        batch_op.drop_index('ix_notice_deliveries_person')
    op.drop_table('notice_deliveries')
    op.drop_table('notices')
    # -------------------------------------------------------------- supplies (issue 15)
    op.drop_table('supply_counts')
    # -------------------------------------------------------------- leave, whereabouts (issue 14)
    op.drop_table('whereabouts')
    op.drop_table('leaves')
    # -------------------------------------------------------------- follow-ups (issue 12)
    op.drop_table('followup_closures')
    with op.batch_alter_table('health_records', schema=None) as batch_op:
        batch_op.drop_column('absent')
    # -------------------------------------------------------------- liaisons
    op.drop_table('liaison_schools')
