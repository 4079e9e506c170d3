"""Several processes: change counters and shared lane quotas

``node_generations`` holds one counter per kind of state each process of a node keeps in memory;
triggers bump it in the transaction of every change to the tables behind it (profiles, valuation
references and overrides, exchange rates, the selection secret), whatever code makes the change.
``lane_quotas`` holds the selection policy's running counters per office and period, shared by
every process (filled as lodgings come: a missing row is made from the declarations stored).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06
"""
from alembic import op
import sqlalchemy as sa

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

KINDS = ("profiles", "valuation", "model", "policy", "rates")
WATCHED = (  # table, the kind its changes bump
    ("risk_profiles", "profiles"),
    ("valuation_references", "valuation"),
    ("valuation_overrides", "valuation"),
    ("exchange_rates", "rates"),
)
SECRET_KEY = "selection.draw_secrets"  # avance.risk.policy.service.SECRETS_KEY: a rotated secret changes the policy's draw
BUMP = "UPDATE node_generations SET generation = generation + 1 WHERE kind = '{kind}'"


def upgrade() -> None:
    op.create_table('node_generations',
    sa.Column('kind', sa.String(length=16), nullable=False, comment='profiles, valuation, model, policy or rates'),
    sa.Column('generation', sa.BigInteger(), nullable=False, comment='Bumped in the transaction of every change of that kind'),
    sa.PrimaryKeyConstraint('kind', name=op.f('pk_node_generations')),
    comment='Change counters of the state each process of a node holds in memory'
    )
    op.bulk_insert(sa.table('node_generations', sa.column('kind', sa.String), sa.column('generation', sa.BigInteger)), [{'kind': kind, 'generation': 0} for kind in KINDS])
    op.create_table('lane_quotas',
    sa.Column('office', sa.String(length=64), nullable=False, comment='Office of lodging'),
    sa.Column('period', sa.String(length=8), nullable=False, comment="The policy's quota period: day, week or month"),
    sa.Column('period_start', sa.Date(), nullable=False, comment='First day of the period'),
    sa.Column('lodged', sa.Integer(), nullable=False, comment='Declarations lodged at the office in the period'),
    sa.Column('red', sa.Integer(), nullable=False),
    sa.Column('yellow', sa.Integer(), nullable=False),
    sa.Column('blue', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('office', 'period', 'period_start', name=op.f('pk_lane_quotas')),
    comment='Declarations per lane and office in each quota period, as assessed; updated in the lodging transaction'
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION avance_bump_generation() RETURNS trigger LANGUAGE plpgsql AS $$ "
            "BEGIN UPDATE node_generations SET generation = generation + 1 WHERE kind = TG_ARGV[0]; RETURN NULL; END $$"
        )
        for table, kind in WATCHED:  # once per statement: a bulk load bumps once
            op.execute(
                f"CREATE TRIGGER {table}_generation AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION avance_bump_generation('{kind}')"
            )
        op.execute(
            "CREATE TRIGGER node_settings_secret_generation AFTER INSERT OR UPDATE ON node_settings FOR EACH ROW "
            f"WHEN (NEW.key = '{SECRET_KEY}') EXECUTE FUNCTION avance_bump_generation('policy')"
        )
    else:  # SQLite: row triggers only
        for table, kind in WATCHED:
            for operation in ("INSERT", "UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {table}_{operation.lower()}_generation AFTER {operation} ON {table} BEGIN {BUMP.format(kind=kind)}; END")
        for operation, row in (("INSERT", "NEW"), ("UPDATE", "NEW")):
            op.execute(
                f"CREATE TRIGGER node_settings_secret_{operation.lower()}_generation AFTER {operation} ON node_settings "
                f"WHEN {row}.key = '{SECRET_KEY}' BEGIN {BUMP.format(kind='policy')}; END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, _ in WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_generation ON {table}")
        op.execute("DROP TRIGGER IF EXISTS node_settings_secret_generation ON node_settings")
        op.execute("DROP FUNCTION IF EXISTS avance_bump_generation()")
    else:
        for table, _ in WATCHED:
            for operation in ("insert", "update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_{operation}_generation")
        for operation in ("insert", "update"):
            op.execute(f"DROP TRIGGER IF EXISTS node_settings_secret_{operation}_generation")
    op.drop_table('lane_quotas')
    op.drop_table('node_generations')
