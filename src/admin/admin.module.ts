// Admin access shared by every admin controller: the audit trail (global, so apps, packages,
// billing and budgets record their changes without importing each other).
import { Global, Inject, Logger, Module, OnModuleInit } from '@nestjs/common';
import { CONFIG, Config } from '../config/config';
import { adminTokens } from './admin-tokens';
import { AuditController } from './audit.controller';
import { AuditRepository } from './audit.repository';
import { AuditService } from './audit.service';

@Global()
@Module({ controllers: [AuditController], providers: [AuditRepository, AuditService], exports: [AuditService] })
export class AdminModule implements OnModuleInit {
  constructor(@Inject(CONFIG) private readonly config: Config) {}

  /** Tells operators which fingerprint in the audit trail belongs to which token. */
  onModuleInit(): void {
    const tokens = adminTokens(this.config);
    const { adminToken, readonlyTokens } = this.config.auth;
    const parts = [
      adminToken ? `admin token ${tokens.fingerprint(adminToken)}` : 'no admin token (changes closed)',
      readonlyTokens.length ? `read-only tokens ${readonlyTokens.map((t) => tokens.fingerprint(t)).join(', ')}` : 'no read-only tokens',
    ];
    new Logger('Admin').log(`admin token fingerprints: ${parts.join('; ')}`);
  }
}
