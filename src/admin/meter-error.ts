// Errors frs-meter itself answers use FRS's body shape with the METER prefix (SPEC §5).
import { BadRequestException, NotFoundException } from '@nestjs/common';

export function meterError(code: string, message: string): { error_code: string; error_msg: string } {
  return { error_code: code, error_msg: message };
}

export function badRequest(message: string): BadRequestException {
  return new BadRequestException(meterError('METER.0400', message));
}

export function notFound(message: string): NotFoundException {
  return new NotFoundException(meterError('METER.0404', message));
}
