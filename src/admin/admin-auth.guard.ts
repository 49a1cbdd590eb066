// Admin routes answer only to `Authorization: Bearer <FRS_METER_ADMIN_TOKEN>`; without that
// variable they are closed (403), so an unconfigured install never exposes them.

import { CanActivate, ExecutionContext, HttpException, Inject, Injectable } from '@nestjs/common';
import { timingSafeEqual, createHash } from 'node:crypto';
import { CONFIG, Config } from '../config/config';
import { meterError } from './meter-error';

@Injectable()
export class AdminAuthGuard implements CanActivate {
  private readonly expected?: Buffer;

  constructor(@Inject(CONFIG) config: Config) {
    if (config.auth.adminToken) this.expected = createHash('sha256').update(config.auth.adminToken).digest();
  }

  canActivate(context: ExecutionContext): boolean {
    if (!this.expected) {
      throw new HttpException(meterError('METER.0403', 'Admin API is closed: set FRS_METER_ADMIN_TOKEN to open it'), 403);
    }
    const req = context.switchToHttp().getRequest<{ headers: Record<string, string | undefined> }>();
    const header = req.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice(7).trim() : '';
    const given = createHash('sha256').update(token).digest();
    if (!token || !timingSafeEqual(given, this.expected)) {
      throw new HttpException(meterError('METER.0401', 'Missing or wrong admin bearer token'), 401);
    }
    return true;
  }
}
