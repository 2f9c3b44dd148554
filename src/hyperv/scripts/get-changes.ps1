# Changed byte ranges of a frozen VHDX since an RCT id (GetVirtualDiskChanges), paged from in.offset
# by ProcessedByteLength, at most in.maxPages calls; the caller continues from ProcessedUntil.
param([Parameter(Mandatory = $true)][string]$InputJson)
. (Join-Path $PSScriptRoot '_hvsnap.ps1') # hvsnap:helper
$in = ConvertFrom-HvsnapInput $InputJson

$ims = Get-HvsnapService 'Msvm_ImageManagementService'
$offset = [uint64]$in.offset
$size = [uint64]$in.sizeBytes
$chunk = $size - $offset
$offsets = @()
$lengths = @()
$pages = 0
$last = $null
while ($offset -lt $size -and $pages -lt [int]$in.maxPages) {
  $length = [uint64][Math]::Min([double]$chunk, [double]($size - $offset))
  $call = Invoke-HvsnapMethod $ims 'GetVirtualDiskChanges' @{ Path = [string]$in.path; LimitId = [string]$in.limitId; ByteOffset = [uint64]$offset; ByteLength = $length } ([int]$in.waitMs)
  $last = $call.Result
  if (-not $call.Ok) {
    # the doc says ByteLength "must be less than the size of the virtual disk": retry with half pages,
    # whether the call refused it (32773) or the job it started failed with Invalid parameter (the job's
    # ErrorCode for it is UNCONFIRMED on a real host; the review found the job form treated as rct_invalid)
    $rejected = $last.ReturnValue -eq 32773 -or ($null -ne $last.Job -and $last.Job.ErrorCode -eq 32773)
    if ($rejected -and $chunk -gt 1048576) { $chunk = [uint64][Math]::Floor($chunk / 2); continue }
    break
  }
  if ($null -ne $call.Out.ChangedByteOffsets) { $offsets += @($call.Out.ChangedByteOffsets | ForEach-Object { [uint64]$_ }) }
  if ($null -ne $call.Out.ChangedByteLengths) { $lengths += @($call.Out.ChangedByteLengths | ForEach-Object { [uint64]$_ }) }
  $processed = [uint64]$call.Out.ProcessedByteLength
  if ($processed -eq 0) { Stop-Hvsnap 'rct_invalid' "GetVirtualDiskChanges processed no bytes at offset $offset of $($in.path)" @{ path = [string]$in.path; offset = [double]$offset } }
  $offset += $processed
  $pages++
}
ConvertTo-HvsnapJson ([ordered]@{ Result = $last; ProcessedUntil = $offset; ChangedByteOffsets = $offsets; ChangedByteLengths = $lengths })
