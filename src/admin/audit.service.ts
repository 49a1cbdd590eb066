// The audit trail of admin changes. Any module that changes state through the admin API calls
// `record(...)` after the change succeeded (inside its transaction when it has one, by passing
// it as `via`), with the actor from the @Actor() of its route.

import { Injectable, Logger } from '@nestjs/common';
import { Clock } from '../common/clock';
import type { AdminActor } from './admin-tokens';
import { AuditFilter, AuditRepository, AuditRow, Queryable } from './audit.repository';

export interface AuditEntry {
  readonly actor: AdminActor;
  /** What was done, `<thing>.<verb>`: app.create, app.delete, qps_package.put, billing.sync, … */
  readonly action: string;
  /** What it was done to: an app name, an operation, a package id, a month. */
  readonly target: string;
  /** State before and after, as the admin API shows it; never a secret. null when there was none. */
  readonly before?: unknown;
  readonly after?: unknown;
}

export interface AuditView {
  readonly id: string;
  readonly at: string;
  readonly actor: string;
  readonly scope: string;
  readonly action: string;
  readonly target: string;
  readonly before: unknown;
  readonly after: unknown;
}

export const AUDIT_COLUMNS = ['id', 'at', 'actor', 'scope', 'action', 'target', 'before', 'after'] as const;

@Injectable()
export class AuditService {
  private readonly logger = new Logger('Audit');

  constructor(
    private readonly repo: AuditRepository,
    private readonly clock: Clock,
  ) {}

  async record(entry: AuditEntry, via?: Queryable): Promise<void> {
    await this.repo.insert(
      {
        at: new Date(this.clock.now()),
        actor: entry.actor.fingerprint,
        scope: entry.actor.scope,
        action: entry.action,
        target: entry.target,
        before: entry.before ?? null,
        after: entry.after ?? null,
      },
      via,
    );
    this.logger.log(`${entry.action} ${entry.target} by token ${entry.actor.fingerprint}`);
  }

  async list(filter: AuditFilter): Promise<AuditView[]> {
    return (await this.repo.list(filter)).map((r: AuditRow) => ({ ...r, at: new Date(r.at).toISOString() }));
  }
}
