# Destroys one reference point. A VM or reference point that is already gone is success.
param([Parameter(Mandatory = $true)][string]$InputJson)
. (Join-Path $PSScriptRoot '_hvsnap.ps1') # hvsnap:helper
$in = ConvertFrom-HvsnapInput $InputJson

$vm = @(Get-HvsnapVms | Where-Object { $_.Name -eq [string]$in.vmId })
# VmAbsent: the VM is not on this node (gone, or migrated): the caller looks for its new owner
if ($vm.Count -eq 0) { ConvertTo-HvsnapJson ([ordered]@{ Gone = $true; VmAbsent = $true }); return }
$names = Read-HvsnapNames $vm[0]
$rp = @(Get-HvsnapReferencePoints $vm[0] | Where-Object { $_.InstanceID -eq [string]$in.referencePointId })
$result = $null
if ($rp.Count -gt 0) {
  $svc = Get-HvsnapService 'Msvm_VirtualSystemReferencePointService'
  $call = Invoke-HvsnapMethod $svc 'DestroyReferencePoint' @{ AffectedReferencePoint = $rp[0] } ([int]$in.waitMs)
  $result = $call.Result
  if (-not $call.Ok) { ConvertTo-HvsnapJson ([ordered]@{ Gone = $false; VmName = $vm[0].ElementName; Result = $result }); return }
}
if ($names.ContainsKey([string]$in.referencePointId)) {
  $names.Remove([string]$in.referencePointId)
  Write-HvsnapNames $vm[0] $names
}
ConvertTo-HvsnapJson ([ordered]@{ Gone = ($rp.Count -eq 0); VmName = $vm[0].ElementName; Result = $result })
